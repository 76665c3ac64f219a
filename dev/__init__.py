"""Local-only tools: the embedded runner, demo builder, interactive tester, benchmark and webhook
receiver. Never deployed (SAM packages only ``functions/``)."""
