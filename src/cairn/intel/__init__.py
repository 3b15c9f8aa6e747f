"""Threat intelligence and ownership: indicators as tables, reputation and attribution.

Submodules: ``model`` (the indicator schema), ``normalize`` (value canonical
forms), ``formats`` (one parser per feed format), ``store`` (feed versions in the
workspace), ``feeds`` (configured feeds and HTTP refresh), ``warninglists``,
``ownership`` (ASN, country, cloud, Tor, special-purpose ranges, domains),
``lookup`` (SQL matching of observables), ``verdict`` (one reputation per
observable).
"""
