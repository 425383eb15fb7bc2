"""The API's routes, one module per resource; `api.main` mounts them."""
