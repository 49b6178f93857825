"""Hand-over of a person's book when they leave or move (docs/handover.md): the handovers table, what a person
owns (book), and the one audited move of it all to a successor (move)."""
