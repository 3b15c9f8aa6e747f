"""Threat intelligence and ownership: indicators as tables, reputation and attribution.

Submodules: ``model`` (the indicator schema), ``normalize`` (value canonical
forms; ``normsql`` the same rules in bulk SQL), ``sanity`` (IP sanity checks),
``formats`` (one parser per feed format), ``inputs`` (files, folders, URLs),
``store`` (feed versions in the workspace; ``feed_tables`` their tables and views),
``feeds`` (configured feeds and HTTP refresh), ``warninglists``,
``ownership`` (ASN, country, cloud, Tor, special-purpose ranges, domains),
``lookup`` (SQL matching of observables), ``verdict`` (one reputation per
observable).
"""
