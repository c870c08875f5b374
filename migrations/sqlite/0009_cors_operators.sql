-- Browser-based clients (issue 8 item 8): origins a client registered for CORS beyond those of
-- its redirect URIs, a JSON array of bare origins. Existing clients get none.
ALTER TABLE clients ADD COLUMN allowed_origins TEXT NOT NULL DEFAULT '[]';

-- Operators (issue 8 item 6): `sesame user logout` and `sesame client revoke-tokens` find the
-- grants of a user's or a client's redeemed codes, and a client's refresh families.
CREATE INDEX authorization_codes_user ON authorization_codes (user_id);
CREATE INDEX authorization_codes_client ON authorization_codes (client_id);
CREATE INDEX refresh_families_client ON refresh_families (client_id);
