"""Scoring generated answers: text metrics (and, with the evaluator, terminology, exams, safety)."""
