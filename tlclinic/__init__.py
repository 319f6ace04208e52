"""Transfer-Learning Clinic: the package every lesson notebook imports."""
__version__ = "0.1.0"
