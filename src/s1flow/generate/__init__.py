"""Generation and grading: setting kinds, budget forcing, sweeps, eval sets and answer grading."""
