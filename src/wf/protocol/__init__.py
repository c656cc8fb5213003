"""The mapping between Dapr's Durable Task messages and wf's model and history; no I/O.

The generated stubs come from the pinned Dapr package (see ``stubs``), never from a copy.
"""
