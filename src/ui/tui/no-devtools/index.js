// Ink imports react-devtools-core only when DEV=true; the chat never connects to React devtools.
export default { initialize() {}, connectToDevTools() {} };
