"""The local tools of the proctoring pipeline, run as the ``proctoring`` command; never deployed
(SAM packages only ``functions/``).

Three layers, each importing only the ones below it (``make lint`` checks it with import-linter):

* ``commands``: one thin module per subcommand, its options and what it prints;
* ``services``: what commands share: run folders and buckets (``targets``), the run itself
  (``run``), pages (``report_page``, ``review_page``), reading verdicts, the labelled sets;
* ``stand_ins``: the local stand-ins for AWS: the ASL engine, the moto seam, Lambda emulation,
  the stack's stores, canned Rekognition answers, a webhook receiver;

and below them all the deployed package, ``proctoring``, which never imports these.
"""
