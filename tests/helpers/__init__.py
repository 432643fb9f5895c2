"""Builders for small throwaway inventories used by the tests."""
