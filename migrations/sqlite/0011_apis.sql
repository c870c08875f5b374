-- APIs (resource servers, issue 12): the identifier is the RFC 8707 `resource` and the `aud`
-- of the tokens issued for the API; `scopes` is a JSON array of {name, description}.
CREATE TABLE apis (
    identifier TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    access_token_ttl INTEGER,
    token_format TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Which scopes of an API a client may ask for (`scopes` a JSON array of scope tokens).
CREATE TABLE client_apis (
    client_id TEXT NOT NULL,
    api TEXT NOT NULL,
    scopes TEXT NOT NULL,
    PRIMARY KEY (client_id, api)
);
