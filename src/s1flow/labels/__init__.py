"""Labels computed by models and judges: difficulty, teacher traces and grades, domains."""
