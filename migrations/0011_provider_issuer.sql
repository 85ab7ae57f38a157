-- RFC 9207: the authorization server's issuer identifier, which the connect callback's `iss` must equal when it comes,
-- and whether it must come (the server's metadata says `authorization_response_iss_parameter_supported`).
ALTER TABLE providers ADD COLUMN issuer varchar(2000);
ALTER TABLE providers ADD COLUMN issuer_required boolean NOT NULL DEFAULT false;
