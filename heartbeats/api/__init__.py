"""The token API under /api/v1/ for runbooks and bots: the same reads and actions as the board, each call
authenticated by a bearer token (models.ApiToken, auth.TokenAuth) and audited under the token's name."""
