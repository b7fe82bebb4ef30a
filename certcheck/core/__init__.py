"""The vocabulary the probe and the evaluator share; imports nothing else of certcheck.

``tls`` is the TLS registry: cipher suites (IANA code, name, key exchange, auth, strength),
named groups and finite-field DH primes, protocol versions.
"""
