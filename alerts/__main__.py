from alerts.cli import main

main(prog_name="alerts")
