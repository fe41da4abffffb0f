'use strict';
const { createApp } = require('./app');

const port = Number(process.env.PORT || 8080);
const server = createApp().listen(port, () => {
  console.log(`listening on ${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
