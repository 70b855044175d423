"""Operations: Prometheus metrics (`metrics`), health endpoints for load balancers (`health`), and a
JSON-lines log formatter (`logs`). Mount the endpoints with `path("realtime/", include("realtime.urls"))`
(they live under `ops/` there); docs/operations.md says how to scrape and probe them. The admin's
live "Realtime status" page and `manage.py realtime_status`: `status` (one process), `exchange` (asked
over the layer), `collect` (the command's side), `topic` (`ops.status`), `page`."""
