"""The REST API's request and response models (Pydantic), one module per resource; their names are the
OpenAPI schema's, which the web interface is built against: change them only together with it."""
