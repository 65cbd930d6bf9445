"""API clients: the programs a practice's administrator lets call the API with a token.

Each client is an OAuth 2.0 client of django-oauth-toolkit (client-credentials grant, RFC 6749
§4.4) that belongs to one organisation, with scopes and a reach that `ally.web.scoping` turns
into capabilities, as it does a member's role.
"""
