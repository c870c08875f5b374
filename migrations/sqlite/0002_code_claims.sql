-- The `claims` request parameter (OIDC Core §5.5) travels with the code to the tokens, as JSON.
ALTER TABLE authorization_codes ADD COLUMN claims TEXT;
