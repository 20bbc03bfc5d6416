"""Feature tables, regression, classification, ranking and reports (scikit-learn conventions)."""
