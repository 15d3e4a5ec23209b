int main(void) { return 1; } /* replaced by the CLI */
