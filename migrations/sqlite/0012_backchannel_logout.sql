-- Back-channel logout (issue 8): the URI a client registered for logout tokens
-- (OpenID Connect Back-Channel Logout 1.0 §2.2); NULL when it has none.
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
