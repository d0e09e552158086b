"""Everything that knows TensorRT: the runtime backend, the engine builder, engine identity.

Only this package imports ``tensorrt``; export and the SDK call into it.
"""
