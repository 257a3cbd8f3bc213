"""The review desk (`ocb serve`): the web page for the people who decide charges, close months, look at
statements before they go out and hand the journal to accounting.

It calls only the application layer (`ocb_pipelines.services`, through `ocb_pipelines.app`); like the CLI it
never opens the warehouse itself (an import-linter contract). The Dagster UI stays the operator's console.
"""
