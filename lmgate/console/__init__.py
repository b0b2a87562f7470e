"""The web console's data: what each page of /lmgate/ui/ shows, read from the rollups, the allow-list and the
budget headroom (``queries.py``), on a time axis of hours, days or months (``timeline.py``)."""
