"""The service-wide HTTP edge, shared by the command side and the query side.

- errors.py: the one builder of `{"detail", "code"}` error answers.
- exceptions.py: DRF's exception handler for the whole API.
- middleware.py: request ids, the body size limit, database availability.
- deadline.py: every request's deadline for its database waits (REQUEST_TIMEOUT).
- service_role.py: SERVICE_ROLE, which side of the API a process serves.
- authentication.py: token authentication under `Token` or `Bearer`.
- peers.py: one path served by one view per method (GET lists products, POST registers one).
- renderers.py: the browsable API, with the forms of a path's peers.
- openapi.py: the OpenAPI parts both sides describe their answers with.
"""
