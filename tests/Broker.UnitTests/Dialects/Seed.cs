namespace Broker.UnitTests.Dialects;

/// <summary>The sample answers of the upstreams' public docs, copied verbatim.</summary>
internal static class Seed
{
    // SlideRule: seed 000, login 200.
    public const string SlideRuleLogIn = """
        {
            "exp": "2022-11-29T13:03:08UTC",
            "access_lifetime": "86400.0",
            "refresh_lifetime": "2592000.0",
            "refresh": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsImV4cCI6MTY3MjIzMjU4OCwiaWF0IjoxNjY5NjQwNTg4LCJqdGkiOiJh1234567890ZmN2U0YjAwOWNkOGI2ZTI1MzRiNTdkNyIsIm9yZ19uYW1lIjoiVW9mTU1234567890dXNlcl9uYW1lIjoiY2V1Z2FydGVibGFpciIsInVzZXJfaWQiOjN9.czx8dPA4msGC1234581K6iwVwpW815kzluk7Htw-gow",
            "access": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwi12345joxNjY5NzI2OTg4LCJpYXQiOjE2Njk2NDA1ODgsImp0aSI6Im123452Zjg1YTBkNjRlNjY4ZTEyZWQxYjlmNTFhN2M0Iiwib3JnX25hbWUiOiJVb2ZNRFRlc3Qi12345678905hbWUiOiJjZXVnYXJ0ZWJsYWlyIiwidXNlcl9pZCI6M30.4Q2E76l4UGHbUlrN7hYPKIEa4FKMJ7UhFEwJTV6fqdk"
        }
        """;

    // SlideRule: seed 000, 403 when the organization is not valid.
    public const string SlideRuleInvalidOrganization = """{"detail": "{org} is NOT a valid organization name"}""";

    // SlideRule: seed 000, 401 when the username or password is not valid.
    public const string SlideRuleBadCredentials = """{"detail": "No active account found with the given credentials"}""";

    // SlideRule: seed 001, refresh 200.
    public const string SlideRuleRefresh = """
        {
            "exp": "2022-11-29T15:24:09UTC",
            "access_lifetime": "86400.0",
            "refresh_lifetime": "2592000.0",
            "refresh": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsImV4cCI6MTY3MjI0MTA0OSwiaWF0IjoxNjY5NjQ5MDQ5LCJqdG123456789012345678901234567890ZTIwZTIyM2Q0OGZmMyIsIm9yZ19uYW1lIjoiVW9mTURUZXN0IiwidXNlcl9uYW1lIjoiY2V1Z2FydGVibGFpciIsInVzZXJfaWQiOjN9.hqbI18P8alQ1v2s0qun1NxOlou3QG0Ggd4vPmAotaZc",
            "access": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwiZXhwIjoxNjY5NzM1NDQ5LCJpYXQiOjE2Njk2NDkwNDksImp0aSI6IjJmODcwYjlkM2E4ZjQyNWE4ZjgxNzI2YTQ3YWUxN2Q0Iiwib3JnX25hbWUiOiJVb2ZNRFRlc3QiLCJ1c2VyX25hbWUiOiJjZXVnYXJ0ZWJsYWlyIiwidXNlcl9pZCI6M30.NX396fsa-FotYMctDVe0CSVRDs17Q5lVuoBPCWPkRhM"
        }
        """;

    // SlideRule: seed 001, 200 for a member who is no longer active.
    public const string SlideRuleInactive = """{"active":false}""";

    // SlideRule: seed 001, 404 for a typo in the URL (not JSON, as documented).
    public const string SlideRuleNotFound = """{The requested resource was not found on this server.}""";

    // SlideRule: seed 001, 403 when the user is not a member (documented without braces).
    public const string SlideRuleNotAMember = """
        "detail": "{user} is NOT a member of {organization}"
        """;

    // SlideRule: seed 001, 403 when the token is invalid (documented without braces).
    public const string SlideRuleTokenNotValid = """
        "detail": "Given token not valid for any token type"
        """;

    // SlideRule: seed 001, 403 when the refresh token is blacklisted (already used).
    public const string SlideRuleBlacklisted = """{ "detail": "Token is blacklisted", "code": "token_not_valid" }""";

    // simplejwt (Progeny): seed 002, token/obtain 200.
    public const string SimpleJwtObtain = """
        {
            "refresh": "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsImV4cCI6MTY0OTg3MzI0NywianRpIjoiN2YxZjBjNWFhNWNmNGY1NTg5ZWQ0NGMzYWRjZjRmZmEiLCJ1c2VyX2lkIjo0MX0.7sN29T5abguGOGR3dmwxNfVJZcMxE9qDSxFcYXIKYEc",
            "access": "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwiZXhwIjoxNjQ4NjYzOTQ3LCJqdGkiOiJhMjg3MmQ4ZmIzY2Y0NTVkYWE3ZmRiMWVmZmZjM2UzZSIsInVzZXJfaWQiOjQxfQ.L4GXorALzmFOuu-NnyumEY7SbQum4kCdAQJ3QolGbqc"
        }
        """;

    // simplejwt: seed 002, 401 on bad credentials.
    public const string SimpleJwtNoActiveAccount = """
        {
            "detail": "No active account found with the given credentials"
        }
        """;

    // simplejwt: seed 002, 400 field errors.
    public const string SimpleJwtFieldErrors = """
        {
            "password": [
                "This field is required."
            ]
        }
        """;

    // simplejwt: seed 002, token/refresh 200.
    public const string SimpleJwtRefresh = """
        {
            "access": "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwiZXhwIjoxNjQ4NjY0NTQzLCJqdGkiOiI3YjkwYTgwMWU2ZGI0OTY4YTJmYTc3NmI1NmUzNDJkMCIsInVzZXJfaWQiOjQxfQ.-FPwOlMLX4WqGsJmmeY74F9R7EldudpvNnxO65hyeTw",
            "refresh": "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsImV4cCI6MTY0OTg3Mzg0MywianRpIjoiZGY2YTdhNmViMTlkNGE5YWE1ZTg1NTAwZWMwMDYyNGMiLCJ1c2VyX2lkIjo0MX0.FKJnVtXGyWu5_5s4TAHOuoF0iW8TmDe-Chcnt4XcWq0"
        }
        """;

    // simplejwt: seed 002, 401 on a used or expired refresh token.
    public const string SimpleJwtTokenNotValid = """
        {
            "detail": "Token is invalid or expired",
            "code": "token_not_valid"
        }
        """;

    // Keycloak (Vivacity): seed 003, /get-token 200.
    public const string KeycloakToken = """
        {
            "access_token": "eyJhbGciOiJSUzI1NiIsInR5cCIgOiAiSldUIiwia2lkIiA6ICJxOXc2c3E1emViZVktaFdBQ2FEVkNGRjNnTl9LNWZQblNlbEFJemUwU3IwIn0.eyJqdGkiOiIyYjAxODUzZC01MDhjLTQ1OGQtYjlhMi0zYTBmNjE3ZjRmZmUiLCJleHAiOjE2Mjk0NjgyNTQsIm5iZiI6MCwiaWF0IjoxNjI5NDY3NjU0LCJpc3MiOiJodHRwOi8va2V5Y2xvYWsuY2hpaHVhaHVhOjgwODAvYXV0aC9yZWFsbXMvc2Vuc29yLWRhdGEiLCJzdWIiOiJmZTEwMjQwZC01MTIzLTRjYzUtYmMxZi1iNjMyOWI2YWQ4ZDMiLCJ0eXAiOiJCZWFyZXIiLCJhenAiOiJzZW5zb3ItZGF0YS1jbGllbnQiLCJhdXRoX3RpbWUiOjAsInNlc3Npb25fc3RhdGUiOiIwMzdmMmJkYy1mYzdmLTQ3MzgtYmM2MC04MzZkMDQ5ZDgyMGIiLCJhY3IiOiIxIiwic2NvcGUiOiJwcm9maWxlIiwicHJlZmVycmVkX3VzZXJuYW1lIjoiZGVtby11c2VyIn0.gWBaqQBtJuXFeVJ_2EQTQHcZ1Uq5afG1QWTeMDq6WK7xwNCNeFcoBOMPJ7aw9zSE2xsK9H9p0vNlWxZsT1i8tEpb0LCan-dy6Ag19szUlJ8UOpH4Hv-Q09sIBOXhpVX9hWObkVYhXM9Q1DmlwuZXpNmbUs_20Eq8BIgxjVHJq489EaHh8EDm26tkU8DbLTzbR4PLG5f1vHZAutoH8g1q8mXmCiiW9A1bLL_nTvl0sGqrH1g0bkJBEu-bLncb0tjlDadtmMEbtfP3cXBXqhhfTzFFoJn-SWkAEDhV0KX05rs9FPRuwwvc5klyJLiBNNFVDBweAdZGIrqoePSvVl2oFA",
            "expires_in": 600,
            "refresh_expires_in": 1800,
            "refresh_token": "eyJhbGciOiJIUzI1NiIsInR5cCIgOiAiSldUIiwia2lkIiA6ICIzZTgxMGM2ZC00YmJjLTQ0MzQtYTM0MC0zYmVlZDYyNmFjNTgifQ.eyJqdGkiOiIxZWE2NGVjMS01ZThiLTQxYmItYjM2OC0yZGEwMmExMzJmYzMiLCJleHAiOjE2Mjk0Njk0NTQsIm5iZiI6MCwiaWF0IjoxNjI5NDY3NjU0LCJpc3MiOiJodHRwOi8va2V5Y2xvYWsuY2hpaHVhaHVhOjgwODAvYXV0aC9yZWFsbXMvc2Vuc29yLWRhdGEiLCJhdWQiOiJodHRwOi8va2V5Y2xvYWsuY2hpaHVhaHVhOjgwODAvYXV0aC9yZWFsbXMvc2Vuc29yLWRhdGEiLCJzdWIiOiJmZTEwMjQwZC01MTIzLTRjYzUtYmMxZi1iNjMyOWI2YWQ4ZDMiLCJ0eXAiOiJSZWZyZXNoIiwiYXpwIjoic2Vuc29yLWRhdGEtY2xpZW50IiwiYXV0aF90aW1lIjowLCJzZXNzaW9uX3N0YXRlIjoiMDM3ZjJiZGMtZmM3Zi00NzM4LWJjNjAtODM2ZDA0OWQ4MjBiIiwic2NvcGUiOiJwcm9maWxlIn0.vr9KD8O9MPgxkh-AAkwbOsCMlfMytmhsioEb6WJN2RU",
            "token_type": "bearer",
            "not-before-policy": 0,
            "session_state": "037f2bdc-fc7f-4738-bc60-836d049d820b",
            "scope": "profile"
        }
        """;

    // OAuth2 (django-oauth-toolkit): seed 004, token 200.
    public const string OAuth2Token = """
        {
            "access_token": "Df0Z0r74hxZmO47mo9QnRrncVJIGU6",
            "expires_in": 3600,
            "refresh_token": "Y23rwVNSRtLjhy2nIwslJdo3FbAS6d",
            "scope": "read write {OTHER_SCOPES}",
            "token_type": "Bearer"
        }
        """;

    // OAuth2: seed 004, failure when the passed parameters are not valid.
    public const string OAuth2InvalidGrant = """
        {
            "error": "invalid_grant",
            "error_description": "Invalid credentials given."
        }
        """;
}
