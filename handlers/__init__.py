"""Channel-neutral conversations: intake, tracking, officer actions (DESIGN.md §2)."""
