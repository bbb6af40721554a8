"""IMS Caliper 1.2 (and 1.1 as Canvas sends it): envelopes of events at ``POST /caliper``.

``validation`` checks envelopes and events, ``mapping`` turns grade, assessment and tool-use
events into completions, ``service`` stores and ingests them, ``api`` is the HTTP edge.
"""
