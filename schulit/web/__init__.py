"""The teachers' web page (``schulit web``): class-scoped password resets and pupils' own password changes."""
