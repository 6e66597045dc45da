"""Every scenario by name, in the order of the table."""

from faults import accounts, incidents, options, scenarios

SPECS = {spec.name: spec for spec in scenarios.SPECS + incidents.SPECS + options.SPECS + accounts.SPECS}
