"""The local run: the captures of a folder (``captures``), a worker process (``process``), the
workers (``workers``) and the summary printed after a run (``summary``)."""
