"""`llmtuner console`: a web console over the same CLI, for datasets, models and jobs (training, evaluation, export).

  settings.py        ConsoleSettings: data_dir, database URL, host/port, upload limit, device slots, grace period
  db.py, models.py   SQLAlchemy 2.0 engine, sessions and ORM tables; migrations/ (Alembic) build the schema
  security.py        argon2 password hashes, random tokens (only their sha256 is stored), CSRF double-submit
  deps.py            per-request dependencies: one DB session, the signed-in user, role checks
  signins.py         who is signed in (Principal), and sign-ins remembered a few seconds between requests
  state.py           what one server holds: settings, database, scheduler, caches (app.state.console)
  ratelimit.py       login attempts per username and per client address
  audit.py           one audit row per write
  datasets/          upload (streamed, sha256, size limit), format detection and per-record checks through
                     llmtuner.data, de-identification counts, dataset_info.json registration, preview
  model_info.py      what a model folder is: architecture, size, recorded template
  jobs/              states (the transition table), executor (child processes), scheduler, logs, metrics
  routers/, schemas/ the REST API (routers by resource) and its Pydantic models; openapi.json is its schema
  app.py, cli.py     create_app(settings); `llmtuner console` and `llmtuner console create-user`

Jobs run as child processes of the `llmtuner` CLI (`python -m llmtuner.cli train config.yaml`), so what the
console runs is exactly what the command line runs. Nothing is sent anywhere: no telemetry, no CDN, and the
server binds 127.0.0.1 unless told otherwise.
"""
