-- Client certificates (docs/consumers.md, "Client certificates"): an issuer is of kind jwt (signed tokens, as before)
-- or x509 (a certificate authority whose client certificates authenticate: a SPIFFE trust bundle, an internal CA). An
-- x509 issuer holds its CA certificates (PEM, public only) instead of an iss, an audience and keys; a binding to one
-- says which name of the certificate its subject matches (uri_san or subject_dn).
--
-- kind keeps its default: an instance of the previous version, still running during a rolling deployment, inserts
-- JWT issuers without naming it.
ALTER TABLE issuers ADD COLUMN kind varchar(20) NOT NULL DEFAULT 'jwt';
ALTER TABLE issuers ADD COLUMN certificates text;
ALTER TABLE issuers ALTER COLUMN issuer DROP NOT NULL;
ALTER TABLE issuers ALTER COLUMN audience DROP NOT NULL;
-- Several x509 issuers have no iss: the unique constraint on issuer treats NULLs as distinct, as PostgreSQL does by default.
ALTER TABLE issuers ADD CONSTRAINT issuers_kind_fields CHECK (
    (kind = 'jwt' AND issuer IS NOT NULL AND audience IS NOT NULL AND certificates IS NULL)
    OR (kind = 'x509' AND issuer IS NULL AND audience IS NULL AND jwks_uri IS NULL AND jwks IS NULL AND certificates IS NOT NULL));

ALTER TABLE identity_bindings ADD COLUMN certificate_field varchar(20)
    CONSTRAINT identity_bindings_certificate_field CHECK (certificate_field IN ('uri_san', 'subject_dn'));
