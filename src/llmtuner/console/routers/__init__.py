"""The REST API, one router per resource; every route is under /api and documented in the OpenAPI schema."""
