"""The Plue server (floor 6): GitHub webhooks, schedules, the run queue, the REST API. Being built (issue 6)."""
