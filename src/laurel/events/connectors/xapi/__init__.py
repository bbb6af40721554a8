"""An xAPI (1.0.3, and 2.0 where it differs) statements endpoint: Laurel as a small LRS.

``validation`` checks statements against the ADL conformance rules, ``mapping`` turns one into
a completion (or says why it is not one), ``cmi5`` holds the moveOn rules, ``service`` stores
statements, ingests completions and applies voiding, ``api`` is the HTTP edge.
"""
