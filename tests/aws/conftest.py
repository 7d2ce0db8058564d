def pytest_configure(config):
    config.addinivalue_line("markers", "aws_e2e: AWS in a box (scripts/aws-e2e.sh)")
