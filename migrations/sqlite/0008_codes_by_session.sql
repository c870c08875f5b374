-- Logout (issue 8): the grants of the codes redeemed in a session are found by its sid, so
-- that ending the session can deny its access tokens.
CREATE INDEX authorization_codes_sid ON authorization_codes (sid);
