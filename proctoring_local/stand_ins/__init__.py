"""Local stand-ins for AWS: the ASL engine on moto's interpreter (``engine``, ``moto_seam``), Lambda
emulation (``lambdas``), the upload event and rule (``events``), the template (``template``), the
stack's stores in moto (``stack``), canned Rekognition answers, stored analyses and a webhook receiver.
They import only the deployed package."""
