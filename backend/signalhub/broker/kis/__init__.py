"""KIS (한국투자증권) Open API: REST client, shared tokens, fill notices and the real-time price consumer."""
