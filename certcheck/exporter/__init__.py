"""``certcheck serve``: a Prometheus exporter answering blackbox-style ``/probe`` scrapes."""
