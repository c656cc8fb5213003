"""The bundled local engine: SQLite store, pure replay executor, workers. Imports nothing from cli, server or backends."""
