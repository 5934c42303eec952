"""Adapter-distillation baselines: DMD, GAN, LCM."""
