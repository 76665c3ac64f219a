"""Shared domain code for the proctoring pipeline.

Every step function imports from this package; it is deployed once, as a Lambda layer.
Modules with AWS imports (``storage``, ``alerts``, ``idempotency``, ``analysis.rekognition``)
import boto3 lazily or only in their AWS implementations, so the domain modules
(``keys``, ``policy``, ``result``) stay pure.
"""

__all__ = ["__version__"]
__version__ = "1.0.0"
