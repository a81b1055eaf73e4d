"""Full fine-tuning of an exported encoder on a classification set (paper Appendix C), on Ray Train."""
