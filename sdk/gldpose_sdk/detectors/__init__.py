"""Face detector implementations, one module each; see ``gldpose_sdk.detect.DETECTORS``."""
